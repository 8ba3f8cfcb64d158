// Command etcd is etcd's own entry point (go.etcd.io/etcd/server/v3/etcdmain), built inside the
// kube build module so it uses exactly the etcd version that k8s.io/kubernetes pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
