package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/imgbatch/imgbatch"
)

// benchResults is the part of an imgbatch bench results.json the estimate
// reads (bench.Report): the recipes benchmarked and one row per case.
type benchResults struct {
	Name    string `json:"name"`
	Dataset struct {
		Summary string `json:"summary"`
	} `json:"dataset"`
	Recipes []struct {
		Name     string            `json:"name"`
		Variants []json.RawMessage `json:"variants"`
	} `json:"recipes"`
	Results []struct {
		Label        string  `json:"label"`
		Recipe       string  `json:"recipe"`
		Impl         string  `json:"impl"`
		ImgPerCPUSec float64 `json:"imgPerCpuSec"`
		Error        string  `json:"error"`
	} `json:"results"`
}

// calibration is the throughput read from a bench results file.
type calibration struct {
	imagesPerVCPUSecond float64
	source              string // "results.json row \"default: pipeline\" (run …; dataset …)"
}

// loadCalibration reads the bench results at path and picks the row that
// measured what a run of recipe r does: the pipeline (what the workers run)
// of the recipe of the same name, else of a benchmarked recipe with as many
// variants; row (a label) overrides the choice.
func loadCalibration(path, row string, r imgbatch.Recipe) (calibration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return calibration{}, fmt.Errorf("--calibrate: %w", err)
	}
	var res benchResults
	if err := json.Unmarshal(b, &res); err != nil {
		return calibration{}, fmt.Errorf("--calibrate %s: not an imgbatch bench results.json: %w", path, err)
	}
	variants := map[string]int{}
	for _, rc := range res.Recipes {
		variants[rc.Name] = len(rc.Variants)
	}
	pick := -1
	for _, match := range []func(i int) bool{
		func(i int) bool { return row != "" && res.Results[i].Label == row },
		func(i int) bool {
			return row == "" && res.Results[i].Impl == "pipeline" && res.Results[i].Recipe == r.Name
		},
		func(i int) bool {
			return row == "" && res.Results[i].Impl == "pipeline" && variants[res.Results[i].Recipe] == len(r.Variants)
		},
	} {
		for i := range res.Results {
			if pick < 0 && match(i) && res.Results[i].Error == "" && res.Results[i].ImgPerCPUSec > 0 {
				pick = i
			}
		}
	}
	if pick < 0 {
		var labels []string
		for _, x := range res.Results {
			labels = append(labels, fmt.Sprintf("%q", x.Label))
		}
		return calibration{}, fmt.Errorf("--calibrate %s: no measured row for recipe %q (%d variants); name one with --calibrate-row (rows: %s)",
			path, r.Name, len(r.Variants), strings.Join(labels, ", "))
	}
	x := res.Results[pick]
	return calibration{imagesPerVCPUSecond: x.ImgPerCPUSec,
		source: fmt.Sprintf("%s row %q (bench %s; %s)", path, x.Label, res.Name, res.Dataset.Summary)}, nil
}
