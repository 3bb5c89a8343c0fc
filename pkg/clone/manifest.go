package clone

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imgprep/imgprep/pkg/batch"
)

// Manifest records a clone run: the template and every clone, with its
// backing file, identity and the operations applied. Its JSON form is
// stable.
type Manifest struct {
	Template string   `json:"template"`
	Mode     Mode     `json:"mode"`
	Clones   []Result `json:"clones"`
	// Failures are the clones that were not made (their files removed).
	Failures []batch.Failure `json:"failures"`
}

// WriteManifest writes m as indented JSON to path, atomically: a reader
// sees the old file or the whole new one.
func WriteManifest(path string, m Manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("clone: manifest: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("clone: manifest %s: %w", path, err)
	}
	return nil
}
