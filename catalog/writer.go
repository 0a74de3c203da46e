package catalog

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Parts is where a Writer puts its parts: part-0000.parquet, … in S3 (the
// batch package) or files in a test.
type Parts interface {
	// Create opens part n.
	Create(n int) (io.Writer, error)
	// Done is called once part n is complete: it may be uploaded.
	Done(n int) error
}

// Sizes of a catalog: a part holds up to PartRows rows (a few hundred
// bytes each, so parts of a few hundred MB at most, which Athena splits
// well), in row groups of groupRows: the rows of one group are what the
// writer holds in memory.
const (
	PartRows  = 1_000_000
	groupRows = 10_000
	batchRows = 256
)

// Writer streams rows into Parquet parts, a new part every partRows rows.
// It is not safe for concurrent use.
type Writer struct {
	parts    Parts
	partRows int
	pw       *parquet.GenericWriter[Row]
	part     int // the part being written
	inPart   int // rows in it, buffered ones included
	buf      []Row
	rows     int64
}

// NewWriter writes to parts; partRows <= 0 means PartRows.
func NewWriter(parts Parts, partRows int) *Writer {
	if partRows <= 0 {
		partRows = PartRows
	}
	return &Writer{parts: parts, partRows: partRows}
}

// Write adds one row.
func (w *Writer) Write(r Row) error {
	if w.pw == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, r)
	w.inPart++
	w.rows++
	if len(w.buf) >= batchRows {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.inPart >= w.partRows {
		return w.closePart()
	}
	return nil
}

// Close ends the last part and returns how many parts and rows were
// written. A catalog without rows is one part without rows: the table's
// location exists and reads as empty.
func (w *Writer) Close() (parts int, rows int64, err error) {
	if w.pw == nil && w.part == 0 {
		if err := w.open(); err != nil {
			return 0, 0, err
		}
	}
	if w.pw != nil {
		if err := w.closePart(); err != nil {
			return 0, 0, err
		}
	}
	return w.part, w.rows, nil
}

func (w *Writer) open() error {
	out, err := w.parts.Create(w.part)
	if err != nil {
		return fmt.Errorf("catalog part %d: %w", w.part, err)
	}
	w.pw = parquet.NewGenericWriter[Row](out,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(groupRows),
		parquet.CreatedBy("imgbatch", "", ""),
	)
	w.inPart = 0
	return nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.pw.Write(w.buf)
	if err == nil && n != len(w.buf) {
		err = errors.New("short write")
	}
	clear(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("catalog part %d: %w", w.part, err)
	}
	return nil
}

// closePart writes the part's footer and hands it over.
func (w *Writer) closePart() error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("catalog part %d: %w", w.part, err)
	}
	w.pw = nil
	if err := w.parts.Done(w.part); err != nil {
		return fmt.Errorf("catalog part %d: %w", w.part, err)
	}
	w.part++
	return nil
}

// PartName is the file name of part n: part-0000.parquet.
func PartName(n int) string { return fmt.Sprintf("part-%04d.parquet", n) }
