// Command etcd is upstream etcd's server, built from the go.etcd.io/etcd/server/v3 module for the
// test control plane. Upstream keeps its main package in a module of its own; this is the same call.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
