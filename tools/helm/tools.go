//go:build tools

// Package tools pins the upstream helm command this module builds; it has no code of its own.
package tools

import (
	_ "helm.sh/helm/v4/cmd/helm"
)
