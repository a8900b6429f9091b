//go:build tools

// The Python language host (`pulumi up` in the repository runs __main__.py through it), built by
// scripts/bootstrap from the last sdk release that still holds it inside the sdk module (v3.79.0).
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python"
