/* vips-cli.c: imgbatch's small stand-in for libvips' `vips` and `vipsheader` commands,
 * built on the pinned npm libvips (which ships no command-line tools) by
 * scripts/vips-cli.sh into PREFIX/bin/vips and PREFIX/bin/vipsheader. It serves the bench's
 * dataset preparation and `vips resize` baseline and the chaos suite's VIPS_BLOCK_UNTRUSTED
 * check, so no Debian libvips-tools (another libvips) is needed.
 *
 *   vips --version                        prints vips-<runtime version>
 *   vips OPERATION IN... OUT... [--opt v]  runs one libvips operation (vips_call_argv)
 *   vipsheader -f FIELD FILE              prints one header field
 *   vipsheader FILE                       prints FILE: WxH, N bands
 *
 * Like libvips' own vips command, VIPS_BLOCK_UNTRUSTED and the other VIPS_* variables
 * apply (vips_init reads them).
 */
#include <stdio.h>
#include <string.h>

#include <vips/vips.h>

static int
fail(void)
{
	fprintf(stderr, "%s", vips_error_buffer());
	vips_error_clear();
	return 1;
}

static int
header(int argc, char **argv)
{
	const char *field = NULL;
	const char *file = NULL;
	VipsImage *image;

	if (argc == 4 && strcmp(argv[1], "-f") == 0) {
		field = argv[2];
		file = argv[3];
	}
	else if (argc == 2)
		file = argv[1];
	else {
		fprintf(stderr, "usage: vipsheader [-f FIELD] FILE\n");
		return 2;
	}
	if (!(image = vips_image_new_from_file(file, NULL)))
		return fail();
	if (field) {
		char *s;

		if (vips_image_get_as_string(image, field, &s)) {
			g_object_unref(image);
			return fail();
		}
		printf("%s\n", s);
		g_free(s);
	}
	else
		printf("%s: %dx%d, %d bands\n", file,
			vips_image_get_width(image), vips_image_get_height(image),
			vips_image_get_bands(image));
	g_object_unref(image);
	return 0;
}

static int
call(int argc, char **argv)
{
	VipsOperation *operation;
	GOptionContext *context;
	GOptionGroup *group;
	GError *error = NULL;
	int n = argc - 1;
	char **args = argv + 1; /* args[0], the operation name, plays the program name */
	int result = 0;

	if (!(operation = vips_operation_new(argv[1])))
		return fail();
	context = g_option_context_new("- run one libvips operation");
	/* vips_call_options' callbacks find the operation as the group's user data. */
	group = g_option_group_new(argv[1], "operation", "operation options", operation, NULL);
	vips_call_options(group, operation);
	g_option_context_set_main_group(context, group);
	if (!g_option_context_parse(context, &n, &args, &error)) {
		fprintf(stderr, "vips %s: %s\n", argv[1], error ? error->message : "bad options");
		g_clear_error(&error);
		result = 2;
	}
	else if (vips_call_argv(operation, n - 1, args + 1))
		result = fail();
	vips_object_unref_outputs(VIPS_OBJECT(operation));
	g_object_unref(operation);
	g_option_context_free(context);
	return result;
}

int
main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	int result;

	base = base ? base + 1 : argv[0];
	if (VIPS_INIT(argv[0]))
		return fail();
	if (strcmp(base, "vipsheader") == 0)
		result = header(argc, argv);
	else if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("vips-%d.%d.%d\n", vips_version(0), vips_version(1), vips_version(2));
		result = 0;
	}
	else if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: vips --version | vips OPERATION ARGS... [--option value]...\n");
		result = 2;
	}
	else
		result = call(argc, argv);
	vips_shutdown();
	return result;
}
