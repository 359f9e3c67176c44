//go:build linux

package runtime

import (
	"fmt"
	"syscall"
)

// accessWrite asks the kernel whether this process may create files in dir, writing nothing.
func accessWrite(dir string) error {
	if err := syscall.Access(dir, 0x2|0x1); err != nil { // W_OK|X_OK
		return fmt.Errorf("not writable: %w", err)
	}
	return nil
}

// tmpfsMagic is statfs(2)'s f_type of tmpfs.
const tmpfsMagic = 0x01021994

// onTmpfs reports whether dir is on tmpfs (lost at reboot).
func onTmpfs(dir string) (bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false, err
	}
	return int64(st.Type) == tmpfsMagic, nil
}
