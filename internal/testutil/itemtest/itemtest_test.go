package itemtest

import (
	"errors"
	"io"
	"testing"
)

func TestSource(t *testing.T) {
	boom := errors.New("boom")
	s := &Source{Items: Items("b", "x", "y"), Err: boom}
	for _, want := range []string{"x", "y"} {
		if it, err := s.Next(); err != nil || it.Bucket != "b" || it.Key != want {
			t.Fatalf("got %+v %v, want b/%s", it, err, want)
		}
	}
	if _, err := s.Next(); err != boom {
		t.Errorf("end: %v, want boom", err)
	}
	if _, err := NewSource().Next(); err != io.EOF {
		t.Errorf("empty: %v, want EOF", err)
	}
}

func TestParseReport(t *testing.T) {
	rep := ParseReport(t, []byte("src,a%20b.jpg,,succeeded,200,,ok\nsrc,c.jpg,,failed,NotFound,404,gone\nsrc,a+b.jpg,,succeeded,200,,again\n"))
	if rep.Rows != 3 || len(rep.ByKey) != 2 || len(rep.Dups) != 1 || rep.Dups[0] != "a b.jpg" || rep.ByKey["a b.jpg"][6] != "again" {
		t.Errorf("%+v", rep)
	}
}
