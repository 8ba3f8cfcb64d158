/**
 * The PCMCluster API identity (DESIGN.md section 5, "PCMCluster"): one namespaced kind in the
 * project's own group. Every name the operator, the chart and the tests agree on lives here.
 */
export const GROUP = 'pcm.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'PCMCluster';
export const PLURAL = 'pcmclusters';
export const SINGULAR = 'pcmcluster';
export const SHORT_NAMES = ['pcm'];
export const CRD_NAME = `${PLURAL}.${GROUP}`;

/** `pcm.dev/paused: "true"` stops reconciling the cluster; the Progressing condition says so. */
export const ANNOTATION_PAUSED = `${GROUP}/paused`;
/** Kept on the assignments ConfigMap: `<counter>` and `<content hash>` behind its generation. */
export const ANNOTATION_ASSIGNMENTS_GENERATION = `${GROUP}/assignments-generation`;
export const ANNOTATION_ASSIGNMENTS_HASH = `${GROUP}/assignments-hash`;
/** A gateway pod may set `pcm.dev/drained: "true"` once it holds no sessions: the operator then removes it before the drain time. */
export const ANNOTATION_DRAINED = `${GROUP}/drained`;

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGER = 'pcm-operator';
