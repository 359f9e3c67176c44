//go:build !linux

package runtime

import "errors"

func accessWrite(string) error { return nil }

func onTmpfs(string) (bool, error) { return false, errors.New("not known on this system") }
