package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/imgbatch/imgbatch"
	"github.com/imgbatch/imgbatch/internal/s3err"
	"github.com/imgbatch/imgbatch/manifest"
)

// maxRecipeBytes bounds a recipe read from S3: a recipe is a few hundred
// bytes; anything near this is the wrong object.
const maxRecipeBytes = 1 << 20

// isS3Recipe reports whether --recipe names an S3 object.
func isS3Recipe(s string) bool { return strings.HasPrefix(s, "s3://") }

// loadS3Recipe is imgbatch.LoadRecipe of a recipe stored at
// s3://bucket/key: read once, by the planner; the recipe itself goes into
// run.json, so the children never read the URL (and a recipe changed
// later does not change a planned run).
func loadS3Recipe(ctx context.Context, client manifest.S3API, uri string, variants []string) (imgbatch.Recipe, error) {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return imgbatch.Recipe{}, usageErr(fmt.Errorf("--recipe %s: want s3://bucket/key of a JSON or YAML recipe", uri))
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return imgbatch.Recipe{}, fmt.Errorf("recipe %s: %s: %w", uri, recipeReadHint(err), err)
	}
	defer out.Body.Close()
	if n := aws.ToInt64(out.ContentLength); n > maxRecipeBytes {
		return imgbatch.Recipe{}, fmt.Errorf("recipe %s: %d bytes, more than a recipe's %d: is it the right object?", uri, n, maxRecipeBytes)
	}
	b, err := s3err.ReadAll(io.LimitReader(out.Body, maxRecipeBytes), out.ContentLength)
	if err != nil {
		return imgbatch.Recipe{}, fmt.Errorf("recipe %s: %w", uri, err)
	}
	return imgbatch.BuildRecipe(uri, b, variants)
}

// recipeReadHint says what a failed GetObject of the recipe means.
func recipeReadHint(err error) string {
	switch {
	case s3err.IsNoSuchKey(err):
		return "no such object"
	case s3err.Code(err) == "NoSuchBucket":
		return "no such bucket"
	case s3err.Status(err) == 403:
		return "access denied (the role running the planner needs s3:GetObject on it; the template's NightlyRecipe grants it)"
	}
	return "cannot read it"
}
