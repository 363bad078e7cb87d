package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/joho/godotenv"
)

// envWithDotenv returns a getenv that reads the process environment first and falls back to the variables in
// the dotenv file at path. A missing file is the same as an empty one; a malformed one is an error. Real
// environment variables always win over the file.
func envWithDotenv(lookup func(string) (string, bool), path string) (func(string) string, error) {
	file, err := godotenv.Read(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		file = nil
	}
	return func(key string) string {
		if v, ok := lookup(key); ok {
			return v
		}
		return file[key]
	}, nil
}
