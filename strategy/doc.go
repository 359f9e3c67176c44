// Package strategy is under construction; see DESIGN.md.
package strategy
