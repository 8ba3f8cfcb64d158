import os from 'node:os';
import { readFileSync } from 'node:fs';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  node: string;
  platform: string;
  loadAverage: number[];
  openFilesLimit: string;
}

function nofile(): string {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const parts = line?.split(/\s{2,}/) ?? [];
    return `${parts[1]} soft / ${parts[2]} hard`;
  } catch {
    return 'unknown';
  }
}

/** The machine a result was measured on; load average says whether others were using it. */
export function machineInfo(): MachineInfo {
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    openFilesLimit: nofile(),
  };
}
