// Package killswitch is under construction; see DESIGN.md.
package killswitch
