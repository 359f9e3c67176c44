// Package orders is under construction; see DESIGN.md.
package orders
