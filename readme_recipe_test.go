package imgbatch

import (
	"os"
	"strings"
	"testing"
)

// The README's example recipe (the first yaml block of its Recipes
// section) is a valid recipe: the README cannot teach a field that the
// parser refuses.
func TestReadmeRecipeExample(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Recipes")
	if !ok {
		t.Fatal("README has no Recipes section")
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("the Recipes section has no yaml block")
	}
	r, err := BuildRecipe("readme", []byte(block), nil)
	if err != nil {
		t.Fatalf("the README's recipe: %v", err)
	}
	if len(r.Variants) != 3 || r.Variants[1].Format != FormatAuto || r.Variants[1].Target == nil || !r.Variants[1].KeepSmallerSource || len(r.Placeholders) != 3 {
		t.Errorf("the README's recipe read as %+v", r)
	}
}
