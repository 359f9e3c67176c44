// Package configs embeds the default configuration, so a built binary runs anywhere:
// the runtime uses configs/sim.yaml from the working directory when it exists, else this
// embedded copy of the same file.
package configs

import _ "embed"

// Sim is configs/sim.yaml: the embedded-simulator default.
//
//go:embed sim.yaml
var Sim []byte
