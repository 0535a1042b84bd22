//go:build !unix

package testenv

import "os"

// lockFile does nothing where flock is missing: the listen probe alone
// guards the port.
func lockFile(*os.File) error { return nil }
