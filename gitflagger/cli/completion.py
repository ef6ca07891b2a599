"""``gitflagger completion bash|zsh|fish``: the shell script that completes gitflagger's commands.

click generates it; the script calls ``gitflagger`` back with
``_GITFLAGGER_COMPLETE`` set, so completion always matches the installed
version's commands and options.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

COMPLETE_VAR = "_GITFLAGGER_COMPLETE"


@click.command(epilog="""\b
Examples:
  source <(gitflagger completion bash)                                  # this shell
  gitflagger completion bash > /etc/bash_completion.d/gitflagger
  gitflagger completion zsh > "${fpath[1]}/_gitflagger"
  gitflagger completion fish > ~/.config/fish/completions/gitflagger.fish
""")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL."""
    cls = get_completion_class(shell)
    assert cls is not None  # the three choices are click's built-in shells
    root = ctx.find_root().command
    click.echo(cls(root, {}, "gitflagger", COMPLETE_VAR).source())
