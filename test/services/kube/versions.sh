# Pinned versions of the Kubernetes test bed (DESIGN.md section 6). Sourced by build.sh and kube.sh.
# k8s.io/kubernetes v1.37.2 pins etcd v3.7.0 in its go.mod; etcd is built from the same module graph.
KUBE_VERSION=v1.37.2
KWOK_VERSION=v0.8.0
