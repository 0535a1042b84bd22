package testenv

import (
	"os"
	"path/filepath"
)

// copyProsodyModules copies the portal's Prosody modules
// (deploy/prosody/modules/*.lua) into dir, unchanged, for a Prosody that
// runs as its own user and may not read the checkout.
func copyProsodyModules(dir string) error {
	stats, err := DeployFile("prosody", "modules", "mod_portal_stats.lua")
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(stats), "*.lua"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
