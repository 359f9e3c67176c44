// Package runtime is under construction; see DESIGN.md.
package runtime
