package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// completionUsage and completionHelp are `imgbatch completion --help`.
const (
	completionUsage = "print a shell completion script (bash or zsh)"
	completionHelp  = `Examples:
   source <(imgbatch completion bash)
   imgbatch completion zsh > "${fpath[1]}/_imgbatch"`
)

func completionAction(c *cli.Context) error {
	switch c.Args().First() {
	case "bash":
		fmt.Fprint(c.App.Writer, bashCompletion)
	case "zsh":
		fmt.Fprint(c.App.Writer, zshCompletion)
	default:
		return withCode(exitUsage, fmt.Errorf("usage: imgbatch completion bash|zsh"))
	}
	return nil
}

// The scripts ask the binary itself (--generate-bash-completion), so they
// follow the commands and flags of the installed version.
const bashCompletion = `_imgbatch_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _imgbatch_complete imgbatch
`

const zshCompletion = `#compdef imgbatch
_imgbatch() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
compdef _imgbatch imgbatch
`
