/** Fixed bench credentials: the bench runs on 127.0.0.1 only, these guard nothing. */
export const BENCH_JWT_SECRET = 'bench-terminal-jwt-secret-0123456789';
export const BENCH_API_KEY = 'bench-api-key-0123456789';
/** A payload of about the size of a small terminal command (price update). */
export const BENCH_PAYLOAD = { type: 'price-update', sku: 'A-1', amount: 1250, currency: 'EUR', pad: 'x'.repeat(120) };
