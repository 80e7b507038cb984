"""Shell completions for bash, zsh and fish, generated from a program's command table.

Why generated: a script written by hand drifts from the options it
completes; this one is made from the same ``Parser`` that parses them, so a
new option completes the day it exists. What is known when the script is
made (commands, options, the choices of both, which options take a file) is
written into it; what is known only at run time (the running daemon's app
names) the script asks the program for, through a hidden command
(``Arg(complete="apps")`` → ``PROG [GLOBAL OPTIONS] __complete apps``), which
must be fast, print nothing when there is nothing to say, and never start
a daemon.

Each script has the same four parts: the options of a command (``opts``),
the values an option takes (``values``: ``@file``, ``@dir``, words, or
nothing; its exit status says whether the option takes a value at all), the
values of the Nth positional argument (``arg``), and a scan of the words
before the cursor that finds the command, the position and an option
waiting for its value. bash and zsh share the helpers (POSIX shell that both
run); fish has its own, and prints descriptions with the candidates.

Only ``sys`` is imported at run time (by nobody: the CLI imports this module
only for ``PROG completion SHELL``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from procward.kit._argv import Arg, Command, Option, Parser

__all__ = ["SHELLS", "script"]

SHELLS = ("bash", "zsh", "fish")
HELP = ("-h", "--help")


def script(parser: Parser, shell: str) -> str:
    """The completion script of ``parser``'s program for ``shell`` (one of ``SHELLS``)."""
    if shell not in SHELLS:
        raise ValueError(f"no completion for {shell!r}: {', '.join(SHELLS)}")
    table = _Table(parser)
    return {"bash": _bash, "zsh": _zsh, "fish": _fish}[shell](table)


class _Table:
    """What a script needs of the parser: the visible commands, their options and arguments."""

    def __init__(self, parser: Parser) -> None:
        self.prog = parser.prog
        self.fn = "__" + "".join(c if c.isalnum() else "_" for c in parser.prog)
        self.globals = parser.options
        visible = [c for c in parser.commands.values() if not c.hidden]
        # An alias completes as its command does: the same options and arguments.
        self.commands = visible + [_alias(c, name) for c in visible for name in c.aliases]

    def options(self) -> Iterator[tuple[str, list[str]]]:
        """``(command, option names)``; "" for the global options."""
        yield "", [name for o in self.globals for name in o.names] + list(HELP)
        for command in self.commands:
            yield command.name, [n for o in command.options for n in o.names] + list(HELP)

    def valued(self) -> Iterator[tuple[str, str, str]]:
        """``(command, option name, values)`` of every option that takes a value."""
        scopes: list[tuple[str, list[Option]]] = [("", self.globals)]
        scopes += [(c.name, c.options) for c in self.commands]
        for command, options in scopes:
            for option in options:
                if option.takes_value:
                    yield from ((command, name, _option_values(option)) for name in option.names)

    def positionals(self) -> Iterator[tuple[Command, int, Arg, str]]:
        """``(command, index, arg, values)`` of the arguments that complete something."""
        for command in self.commands:
            for index, arg in enumerate(command.args):
                values = _arg_values(arg)
                if values:
                    yield command, index, arg, values


def _alias(command: Command, name: str) -> Command:
    """``command`` under another name, its help saying whose alias it is."""
    from procward.kit._argv import Command

    return Command(
        name,
        command.func,
        f"= {command.name}: {command.help}",
        command.options,
        command.args,
        record=command.record,
    )


def _option_values(option: Option) -> str:
    if option.choices:
        return " ".join(option.choices)
    return {"FILE": "@file", "DIR": "@dir"}.get(option.metavar, "")


def _arg_values(arg: Arg) -> str:
    if arg.complete:
        return f"@{arg.complete}"
    return " ".join(arg.choices) if arg.choices else ""


def _sq(text: str) -> str:
    """``text`` in single quotes for sh and fish."""
    return "'" + text.replace("'", "'\\''") + "'"


# -- bash and zsh ------------------------------------------------------------------


def _sh_helpers(t: _Table) -> str:
    fn = t.fn
    opts = "\n".join(
        f"        {_sq(cmd)}) printf '%s\\n' {_sq(' '.join(names))} ;;"
        for cmd, names in t.options()
    )
    valued = "\n".join(
        f"        {_sq(f'{cmd} {name}')}) printf '%s\\n' {_sq(values)} ;;"
        for cmd, name, values in t.valued()
    )
    fixed, many = [], []
    for command, index, arg, values in t.positionals():
        if arg.many:
            many.append(
                f'    if [ "$1" = {_sq(command.name)} ] && [ "$2" -ge {index} ]; then '
                f"printf '%s\\n' {_sq(values)}; fi"
            )
        else:
            fixed.append(
                f"        {_sq(f'{command.name} {index}')}) printf '%s\\n' {_sq(values)} ;;"
            )
    commands = " ".join(c.name for c in t.commands)
    return f"""\
{fn}_commands() {{ printf '%s\\n' {_sq(commands)}; }}

{fn}_opts() {{  # $1: a command ("" for the global options): the options it takes
    case "$1" in
{opts}
    esac
}}

{fn}_values() {{  # $1 command, $2 option: status 1 if it takes no value; else its values
    case "$1 $2" in
{valued}
        *) return 1 ;;
    esac
}}

{fn}_arg() {{  # $1 command, $2 index of a positional argument: its values
    case "$1 $2" in
{chr(10).join(fixed) or "        '') ;;"}
    esac
{chr(10).join(many)}
    return 0
}}

{fn}_scan() {{  # the words between the program and the cursor: sets cmd pos expect dashdash globals
    cmd="" pos=0 expect="" dashdash="" globals=""
    local w
    while [ $# -gt 0 ]; do
        w="$1"
        shift
        if [ -n "$expect" ]; then
            [ -z "$cmd" ] && globals="$globals $expect $w"
            expect=""
        elif [ -n "$dashdash" ]; then
            pos=$((pos + 1))
        else
            case "$w" in
                --) dashdash=1 ;;
                -*=*) ;;
                -?*) if {fn}_values "$cmd" "$w" >/dev/null; then expect="$w"; fi ;;
                *) if [ -z "$cmd" ]; then cmd="$w"; else pos=$((pos + 1)); fi ;;
            esac
        fi
    done
}}

{fn}_wanted() {{  # $1: the word at the cursor; after a scan: what completes it
    if [ -n "$expect" ]; then {fn}_values "$cmd" "$expect"
    elif [ -n "$dashdash" ]; then echo @file
    else
        case "$1" in
            -*) {fn}_opts "$cmd" ;;
            *) if [ -z "$cmd" ]; then echo @commands; else {fn}_arg "$cmd" "$pos"; fi ;;
        esac
    fi
}}
"""


def _bash(t: _Table) -> str:
    fn = t.fn
    return f"""\
# bash completion for {t.prog}: generated by `{t.prog} completion bash` from its command table.
# Load it with: eval "$({t.prog} completion bash)", e.g. in ~/.bashrc.

{_sh_helpers(t)}
_{fn.lstrip("_")}() {{
    local cmd pos expect dashdash globals cur wanted
    local -a words
    if [ -n "${{COMP_LINE-}}" ]; then  # split by blanks: "host:port" and "--x=1" stay whole
        local line="${{COMP_LINE:0:${{COMP_POINT:-${{#COMP_LINE}}}}}}"
        read -ra words <<< "$line"
        case "$line" in *[[:space:]]|"") words+=("") ;; esac
    else
        words=("${{COMP_WORDS[@]:0:COMP_CWORD+1}}")
    fi
    cur="${{words[${{#words[@]}}-1]}}"
    local before=$(( ${{#words[@]}} - 2 ))
    [ "$before" -lt 0 ] && before=0
    {fn}_scan "${{words[@]:1:before}}"
    wanted="$({fn}_wanted "$cur")"
    COMPREPLY=()
    case "$wanted" in
        @file) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
        @dir) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
        @commands) mapfile -t COMPREPLY < <(compgen -W "$({fn}_commands)" -- "$cur") ;;
        @*)  # names only the running program knows (it starts nothing to say them)
            local names
            # shellcheck disable=SC2086  # the global options, word by word
            names="$("${{words[0]}}" $globals __complete "${{wanted#@}}" 2>/dev/null)"
            mapfile -t COMPREPLY < <(compgen -W "$names" -- "$cur") ;;
        *) mapfile -t COMPREPLY < <(compgen -W "$wanted" -- "$cur") ;;
    esac
}}
complete -F _{fn.lstrip("_")} {t.prog}
"""


def _zsh(t: _Table) -> str:
    fn = t.fn
    described = "\n".join(f"    {_sq(f'{c.name}:{c.help}')}" for c in t.commands)
    name = "_" + fn.lstrip("_")
    return f"""\
#compdef {t.prog}
# zsh completion for {t.prog}: generated by `{t.prog} completion zsh` from its command table.
# Load it with: source <({t.prog} completion zsh) after compinit, e.g. in ~/.zshrc,
# or save it as _{t.prog} in a directory of $fpath.

{_sh_helpers(t)}
{fn}_described=(
{described}
)

{name}() {{
    local cmd pos expect dashdash globals wanted cur="${{words[CURRENT]}}"
    {fn}_scan "${{(@)words[2,CURRENT-1]}}"
    wanted="$({fn}_wanted "$cur")"
    case "$wanted" in
        @file) _files ;;
        @dir) _files -/ ;;
        @commands) _describe -t commands '{t.prog} command' {fn}_described ;;
        @*)
            local -a names
            local said
            said="$("${{words[1]}}" ${{=globals}} __complete "${{wanted#@}}" 2>/dev/null)"
            names=(${{(f)said}})
            compadd -a names ;;
        *) compadd -- ${{=wanted}} ;;
    esac
}}

if [ "${{funcstack[1]}}" = "{name}" ]; then
    {name} "$@"
else
    compdef {name} {t.prog}
fi
"""


# -- fish -------------------------------------------------------------------------


def _fish(t: _Table) -> str:
    fn = t.fn
    helps = {"": {n: o.help for o in t.globals for n in o.names}}
    for command in t.commands:
        helps[command.name] = {n: o.help for o in command.options for n in o.names}
    opts = "\n".join(
        f"        case {_sq(cmd or '.')}\n"
        + "\n".join(
            f"            printf '%s\\t%s\\n' {_sq(n)} {_sq(helps[cmd].get(n, 'show the help'))}"
            for n in names
        )
        for cmd, names in t.options()
    )
    valued = "\n".join(
        f"        case {_sq(f'{cmd or chr(46)} {name}')}\n            echo {_sq(values)}"
        for cmd, name, values in t.valued()
    )
    fixed, many = [], []
    for command, index, arg, values in t.positionals():
        if arg.many:
            many.append(
                f'    if test "$argv[1]" = {_sq(command.name)} -a "$argv[2]" -ge {index}\n'
                f"        echo {_sq(values)}\n    end"
            )
        else:
            fixed.append(
                f"        case {_sq(f'{command.name} {index}')}\n            echo {_sq(values)}"
            )
    commands = "\n".join(f"    printf '%s\\t%s\\n' {_sq(c.name)} {_sq(c.help)}" for c in t.commands)
    return f"""\
# fish completion for {t.prog}: generated by `{t.prog} completion fish` from its command table.
# Load it with: {t.prog} completion fish | source, or save it as
# ~/.config/fish/completions/{t.prog}.fish

function {fn}_commands
{commands}
end

function {fn}_opts  # $argv[1]: a command ("." for the global options)
    switch $argv[1]
{opts}
    end
end

function {fn}_values  # command, option: status 1 if it takes no value; else its values
    switch "$argv[1] $argv[2]"
{valued}
        case '*'
            return 1
    end
end

function {fn}_arg  # command, index of a positional argument: its values
    switch "$argv[1] $argv[2]"
{chr(10).join(fixed) or "        case ''"}
    end
{chr(10).join(many)}
    return 0
end

function {fn}_candidates
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l cmd .
    set -l pos 0
    set -l expect
    set -l dashdash
    set -l globals
    for w in $words[2..-1]
        if test -n "$expect"
            test "$cmd" = . && set -a globals $expect $w
            set expect
        else if test -n "$dashdash"
            set pos (math $pos + 1)
        else
            switch $w
                case --
                    set dashdash 1
                case '-*=*'
                case '-?*'
                    {fn}_values $cmd $w >/dev/null && set expect $w
                case '*'
                    if test "$cmd" = .
                        set cmd $w
                    else
                        set pos (math $pos + 1)
                    end
            end
        end
    end
    set -l wanted
    if test -n "$expect"
        set wanted ({fn}_values $cmd $expect)
    else if test -n "$dashdash"
        set wanted @file
    else if string match -q -- '-*' "$cur"
        {fn}_opts $cmd
        return
    else if test "$cmd" = .
        {fn}_commands
        return
    else
        set wanted ({fn}_arg $cmd $pos)
    end
    switch "$wanted"
        case @file
            __fish_complete_path "$cur"
        case @dir
            __fish_complete_directories "$cur"
        case '@*'
            $words[1] $globals __complete (string sub -s 2 -- $wanted) 2>/dev/null
        case '*'
            string split ' ' -- $wanted
    end
end

complete -c {t.prog} -f -a '({fn}_candidates)'
"""
