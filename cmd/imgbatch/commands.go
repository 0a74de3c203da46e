package main

import (
	"github.com/urfave/cli/v2"

	"github.com/imgbatch/imgbatch/heic"
)

// commands are imgbatch's commands, in the order --help lists them. Each
// command's file holds its help text (<name>Usage, <name>Help), its flags
// (<name>Flags), the options struct they are read into, once, and its
// action; flags shared by several commands are in flags.go.
func commands() []*cli.Command {
	return []*cli.Command{
		{Name: "local", Usage: localUsage, Description: localHelp, Flags: localFlags(), Action: localAction},
		{Name: "submit", Usage: submitUsage, ArgsUsage: " ", Description: submitHelp, Flags: submitFlags(), Action: withClients(submitOptionsFrom, submitAction)},
		{Name: "plan", Usage: planUsage, ArgsUsage: " ", Description: planHelp, Flags: planFlags(), Action: withClients(planOptionsFrom, planAction)},
		{Name: "redrive", Usage: redriveUsage, ArgsUsage: "RUN_ID", Description: redriveHelp, Flags: redriveFlags(), Action: withClients(redriveOptionsFrom, redriveAction)},
		{Name: "work", Usage: workUsage, Description: workHelp, Flags: workFlags(), Action: withClients(workOptionsFrom, workAction)},
		{Name: "cancel", Usage: cancelUsage, ArgsUsage: "RUN_ID", Description: cancelHelp, Flags: cancelFlags(), Action: withClients(controlOptionsFrom, cancelAction)},
		{Name: "pause", Usage: pauseUsage, ArgsUsage: "RUN_ID", Description: pauseHelp, Flags: pauseFlags(), Action: withClients(controlOptionsFrom, pauseAction)},
		{Name: "resume", Usage: resumeUsage, ArgsUsage: "RUN_ID", Description: resumeHelp, Flags: resumeFlags(), Action: withClients(controlOptionsFrom, resumeAction)},
		{Name: "status", Usage: statusUsage, ArgsUsage: "RUN_ID", Description: statusHelp, Flags: statusFlags(), Action: withClients(statusOptionsFrom, statusAction)},
		{Name: "reap", Usage: reapUsage, Description: reapHelp, Flags: reapFlags(), Action: withClients(reapOptionsFrom, reapAction)},
		{Name: "completion", Usage: completionUsage, ArgsUsage: "bash|zsh", Description: completionHelp, Action: completionAction},
		{Name: "bench", Usage: benchUsage, Description: benchHelp, Flags: benchFlags(), Action: benchAction,
			Subcommands: []*cli.Command{benchChildCommand()}},
		{Name: "version", Usage: versionUsage, Description: versionHelp, Flags: versionFlags(), Action: versionAction},
		{Name: "heif-decode", Hidden: true, Usage: heifDecodeUsage, Description: heifDecodeHelp + heic.HelperUsage(),
			SkipFlagParsing: true, Action: heifDecodeAction},
	}
}

// withClients is the action of a command that talks to AWS: its flags are
// read once, into its options (a bad flag fails before any AWS call), then
// it runs with the AWS clients.
func withClients[O any](read func(*cli.Context) (O, error), run func(*cli.Context, *clients, O) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		o, err := read(c)
		if err != nil {
			return err
		}
		cl, err := loadClientsFor(c.Context, c.Command.Name)
		if err != nil {
			return err
		}
		return run(c, cl, o)
	}
}
