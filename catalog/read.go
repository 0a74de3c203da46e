package catalog

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Read reads every row of a catalog part with parquet-go's generic reader,
// into maps keyed by column name (nested outputs as a list of maps; null
// as nil): what a Parquet reader that knows nothing of Row sees.
func Read(r io.ReaderAt, size int64) ([]map[string]any, error) {
	pf, err := parquet.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	pr := parquet.NewReader(pf)
	defer pr.Close()
	var rows []map[string]any
	for {
		m := map[string]any{}
		if err := pr.Read(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return rows, fmt.Errorf("catalog row %d: %w", len(rows), err)
		}
		rows = append(rows, m)
	}
	if int64(len(rows)) != pf.NumRows() {
		return rows, fmt.Errorf("catalog: read %d rows, the footer says %d", len(rows), pf.NumRows())
	}
	return rows, nil
}
