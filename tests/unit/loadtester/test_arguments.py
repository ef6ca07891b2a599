"""An allowed program may not read or write local files through its arguments, in any spelling."""

from __future__ import annotations

import doctest

import pytest

import gitflagger.loadtester.arguments as arguments
from gitflagger.loadtester.arguments import RULES, check_arguments
from gitflagger.loadtester.commands import CommandPolicy, CommandRefused, split_command

URL = "http://podinfo-canary.test:9898/"

REFUSED = [
    # curl: request bodies and uploads read from files
    ("curl -d @/etc/passwd URL", "curl option -d with '@/etc/passwd' reads a local file"),
    ("curl -d@/etc/passwd URL", "curl option -d with '@/etc/passwd' reads a local file"),
    ("curl -sSd@/etc/passwd URL", "curl option -d with '@/etc/passwd' reads a local file"),
    ("curl -sd @/etc/passwd URL", "curl option -d with '@/etc/passwd'"),
    ("curl --data @/etc/passwd URL", "curl option --data with '@/etc/passwd'"),
    ("curl --data=@/etc/passwd URL", "curl option --data with '@/etc/passwd'"),
    ("curl --data-binary @f URL", "curl option --data-binary with '@f'"),
    ("curl --data-ascii @f URL", "curl option --data-ascii with '@f'"),
    ("curl --json @f URL", "curl option --json with '@f'"),
    ("curl --data-urlencode @f URL", "curl option --data-urlencode with '@f'"),
    ("curl --data-urlencode name@f URL", "curl option --data-urlencode with 'name@f'"),
    ("curl --url-query name@f URL", "curl option --url-query with 'name@f'"),
    ("curl -F field=@/etc/passwd URL", "curl option -F with 'field=@/etc/passwd'"),
    ("curl -Ffield=@/etc/passwd URL", "curl option -F with 'field=@/etc/passwd'"),
    ("curl --form 'field=</etc/passwd' URL", "curl option --form with 'field=</etc/passwd'"),
    ("curl -T /etc/passwd URL", "curl option -T with '/etc/passwd' reads or writes a local file"),
    ("curl -T/etc/passwd URL", "curl option -T with '/etc/passwd'"),
    ("curl --upload-file /etc/passwd URL", "curl option --upload-file with '/etc/passwd'"),
    ("curl --upload /etc/passwd URL", "curl option --upload may abbreviate --upload-file"),
    ("curl -H @/etc/passwd URL", "curl option -H with '@/etc/passwd'"),
    ("curl --header @headers URL", "curl option --header with '@headers'"),
    ("curl --proxy-header @headers URL", "curl option --proxy-header with '@headers'"),
    ("curl --variable name@/etc/passwd URL", "curl option --variable with 'name@/etc/passwd'"),
    ("curl --variable %HOME URL", "reads a local file or the load tester's environment"),
    # curl: config, cookies and credentials files
    ("curl -K /tmp/curlrc URL", "curl option -K with '/tmp/curlrc'"),
    ("curl --config /tmp/curlrc URL", "curl option --config with '/tmp/curlrc'"),
    ("curl -b /tmp/cookies URL", "curl option -b with '/tmp/cookies' reads a local cookie file"),
    ("curl --cookie /tmp/cookies URL", "curl option --cookie with '/tmp/cookies'"),
    ("curl -c /tmp/jar URL", "curl option -c with '/tmp/jar' writes a local file"),
    ("curl -E /etc/ssl/private/key.pem URL", "curl option -E with '/etc/ssl/private/key.pem'"),
    ("curl --key /k URL", "curl option --key with '/k'"),
    ("curl --cacert /ca URL", "curl option --cacert with '/ca'"),
    ("curl --netrc-file /n URL", "curl option --netrc-file with '/n'"),
    ("curl -n URL", "curl option -n writes or reads local files"),
    ("curl -sn URL", "curl option -n writes or reads local files"),
    ("curl --netrc URL", "curl option --netrc writes or reads local files"),
    ("curl --unix-socket /var/run/docker.sock URL", "curl option --unix-socket"),
    # curl: files written
    ("curl -o /tmp/x URL", "curl option -o with '/tmp/x' writes a local file"),
    ("curl -o/tmp/x URL", "curl option -o with '/tmp/x'"),
    ("curl -so/tmp/x URL", "curl option -o with '/tmp/x'"),
    ("curl --output /tmp/x URL", "curl option --output with '/tmp/x'"),
    ("curl --output=/tmp/x URL", "curl option --output with '/tmp/x'"),
    ("curl -O URL", "curl option -O writes or reads local files"),
    ("curl -sO URL", "curl option -O"),
    ("curl --remote-name URL", "curl option --remote-name writes or reads local files"),
    ("curl --remote-name-all URL", "curl option --remote-name-all"),
    ("curl -OJ URL", "curl option -O"),
    ("curl -D /tmp/h URL", "curl option -D with '/tmp/h'"),
    ("curl --dump-header /tmp/h URL", "curl option --dump-header with '/tmp/h'"),
    ("curl --trace /tmp/t URL", "curl option --trace with '/tmp/t'"),
    ("curl --trace-ascii /tmp/t URL", "curl option --trace-ascii with '/tmp/t'"),
    ("curl --stderr /tmp/e URL", "curl option --stderr with '/tmp/e'"),
    ("curl --libcurl /tmp/c URL", "curl option --libcurl with '/tmp/c'"),
    ("curl --output-dir /tmp URL", "curl option --output-dir with '/tmp'"),
    ("curl -w @/etc/passwd URL", "curl option -w with '@/etc/passwd'"),
    ("curl -w %output{/tmp/x}%{http_code} URL", "curl option -w with '%output{/tmp/x}%{http_code}'"),
    ("curl --write-out @fmt URL", "curl option --write-out with '@fmt'"),
    ("curl --etag-save /tmp/e URL", "curl option --etag-save"),
    ("curl --hsts /tmp/h URL", "curl option --hsts"),
    # curl: a dangling file option (no value) is still refused
    ("curl URL -o", "curl option -o writes a local file"),
    ("curl URL --upload-file", "curl option --upload-file reads or writes a local file"),
    # curl: file: URLs, also in URL globs and after --
    ("curl file:///etc/passwd", "curl URL 'file:///etc/passwd' reads a local file"),
    ("curl FILE:///etc/passwd", "curl URL 'FILE:///etc/passwd'"),
    ("curl {http://x/,file:///etc/passwd}", "reads a local file"),
    ("curl [file:///etc/passwd]", "reads a local file"),
    ("curl -- file:///etc/passwd", "curl URL 'file:///etc/passwd'"),
    ("curl https://u:token@h/{a,file:///etc/passwd}", "curl URL 'https://***@h/{a,file:///etc/passwd}'"),
    ("curl --url file:///etc/passwd", "curl option --url with 'file:///etc/passwd'"),
    # hey (Go flags: -D, --D, -D=, --D=)
    ("hey -D /etc/passwd URL", "hey option -D with '/etc/passwd' reads or writes a local file"),
    ("hey --D /etc/passwd URL", "hey option --D with '/etc/passwd'"),
    ("hey -D=/etc/passwd URL", "hey option -D with '/etc/passwd'"),
    ("hey --D=/etc/passwd URL", "hey option --D with '/etc/passwd'"),
    ("hey -z 1m -m POST -D /etc/passwd URL", "hey option -D"),
    ("hey URL -D", "hey option -D reads or writes a local file"),
    # ab
    ("ab -p /etc/passwd URL", "ab option -p with '/etc/passwd'"),
    ("ab -p/etc/passwd URL", "ab option -p with '/etc/passwd'"),
    ("ab -kp /etc/passwd URL", "ab option -p"),
    ("ab -u /etc/passwd URL", "ab option -u"),
    ("ab -g /tmp/plot URL", "ab option -g"),
    ("ab -e /tmp/csv URL", "ab option -e"),
    ("ab -E /tmp/cert URL", "ab option -E"),
    # curl: the protocol allow-list the load tester sets may not be changed, nor --next reset it
    ("curl --proto-default file /etc/passwd", "curl option --proto-default is reserved"),
    ("curl --proto-def file /etc/passwd", "curl option --proto-def may abbreviate --proto-default"),
    ("curl --proto =file file:/x", "curl option --proto is reserved"),
    ("curl --proto=all URL", "curl option --proto is reserved"),
    ("curl --proto-redir all URL", "curl option --proto-redir is reserved"),
    ("curl --prot all URL", "curl option --prot may abbreviate --proto"),
    ("curl URL --next /etc/passwd", "curl option --next is reserved"),
    ("curl URL -: /etc/passwd", "curl option -: is reserved"),
    ("curl URL -s: /etc/passwd", "curl option -: is reserved"),
    ("curl --no-globoff URL", "curl option --no-globoff is reserved"),
    # curl: URL globs, which can spell file: in ways no pattern foresees
    ("curl fi{l}e:///etc/passwd", "curl URL 'fi{l}e:///etc/passwd' uses curl URL globbing"),
    ("curl '{file}:///etc/passwd'", "uses curl URL globbing"),
    ("curl '[f-f]ile:///etc/passwd'", "uses curl URL globbing"),
    ("curl 'http://x/[1-9]'", "uses curl URL globbing"),
    ("curl --url 'f{i}le:///etc/passwd'", "curl option --url with 'f{i}le:///etc/passwd' uses curl URL"),
    ("curl 'http://[::1]:9898/{a,b}'", "uses curl URL globbing"),
]

ALLOWED = [
    "hey -z 1m -q 10 -c 2 URL",
    "hey -z 1m -q 10 -c 2 -m POST -d '{test: 2}' URL",
    "hey -m POST -d @notafile -T application/json URL",  # hey's -d is the body itself
    "hey -o csv -n 10 URL",  # -o is hey's output format, not a file
    "hey -h2 -disable-keepalive URL",
    "curl -s URL",
    "curl -sS -o /dev/null -w '%{http_code}' URL",
    "curl -s -o - URL",
    "curl -sSo/dev/null URL",
    "curl -D - URL",
    "curl -d 'name=value' URL",
    "curl -d '{\"a\": 1}' -H 'Content-Type: application/json' URL",
    "curl --data-raw @literal URL",  # --data-raw never reads files
    "curl --form-string field=@literal URL",
    "curl -F field=value URL",
    "curl --data-urlencode 'q=a@b' URL",
    "curl --data-urlencode '=@x' URL",
    "curl -b 'session=abc' URL",
    "curl -H 'X-Mail: a@b' URL",
    "curl -X POST -A agent -m 5 --retry 3 URL",
    "curl -x http://proxy:3128 URL",
    "curl http://podinfo-canary.test:9898/profile:1",
    "curl -u user:pass URL",
    "curl --proxy http://proxy:3128 URL",  # exact name wins over a prefix of --proxy-cert
    "curl -s 'http://[::1]:9898/healthz'",  # brackets around an IPv6 host are no glob
    "curl -s 'http://u@[fe80::1%25eth0]:9898/'",
    "curl -s 'http://podinfo-canary.test:9898/q?a=%7Bx%7D%5B1%5D'",  # percent-encoded glob characters
    "ab -n 100 -c 2 -k URL",
    "ab -n 100 -H 'X-A: 1' URL",
]


def _argv(cmd: str) -> list[str]:
    return split_command(cmd.replace("URL", URL))


@pytest.mark.parametrize(("cmd", "message"), REFUSED, ids=[c for c, _ in REFUSED])
def test_file_options_are_refused(cmd: str, message: str) -> None:
    program, *args = _argv(cmd)
    with pytest.raises(CommandRefused) as err:
        check_arguments(program, args)
    assert message in str(err.value)
    assert str(err.value).endswith(": cmd tasks may not read or write local files")


@pytest.mark.parametrize("cmd", ALLOWED)
def test_ordinary_load_tests_pass(cmd: str) -> None:
    program, *args = _argv(cmd)
    check_arguments(program, args)


def test_programs_without_rules_are_not_checked() -> None:
    check_arguments("wget", ["--post-file=/etc/passwd", URL])
    assert sorted(RULES) == ["ab", "curl", "hey"]


def test_the_policy_checks_arguments_before_anything_runs() -> None:
    policy = CommandPolicy.of(["curl", "hey"])
    with pytest.raises(CommandRefused, match="curl option -d with '@/etc/passwd'"):
        policy.prepare(f"curl -d @/etc/passwd {URL}")
    assert policy.prepare(f"curl -s {URL}")[1:] == [
        "-q", "--proto", "=http,https", "--proto-redir", "=http,https", "--globoff", "-s", URL]
    assert policy.prepare(f"hey {URL}")[1:] == [URL]


def test_unchecked_programs_are_listed_for_the_startup_warning() -> None:
    policy = CommandPolicy.of(["hey", "curl", "wget", "sh"])
    assert policy.unchecked() == ["wget"]


def test_docstring_examples_hold() -> None:
    failures, tried = doctest.testmod(arguments)
    assert tried > 0 and failures == 0
