#!/usr/bin/env bash
# test_unix.sh: what people expect of a Unix tool. The man page and the bash completion the
# build generated from the binary's --help (cmake/facerec-*.sh) against that --help: every
# command and every option of every command in both, the page formatting without a warning,
# completion of commands, options, option values, subcommands and files; --version with and
# without a command; progress on stderr only on a terminal, and never a colour or other
# escape sequence (NO_COLOR), with the summary line kept when stderr is a file.
set -euo pipefail
bin="${FACEREC_BIN:?}"
build="${FACEREC_BUILD_DIR:?}"
man="$build/facerec.1"
completion="$build/facerec.bash-completion"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION
    if ( eval "$2" ); then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}
version="$("$bin" --version)"
commands="$("$bin" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1; next} on && !/^  / {on = 0}')"
options() { # the options of a command's help: its option lines and usage lines
    "$bin" "$1" --help | awk '
        function emit(line,   n, w, i) {
            n = split(line, w, /[ ,|\[\]]+/)
            for (i = 1; i <= n; i++) if (w[i] ~ /^-[-a-z0-9]/) print w[i]
        }
        /^  -/ { line = substr($0, 3); sub(/  .*/, "", line); emit(line); next }
        /^(usage: +| +)facerec / { emit($0) }' | sort -u
}
check "$(wc -w <<< "$commands") commands found in facerec --help" '[ "$(wc -w <<< "$commands")" -ge 10 ]'

# ---- the man page ---------------------------------------------------------------------------
check "facerec.1 formats without a warning" \
    '[ -z "$(groff -man -ww -z -Tutf8 "$man" 2>&1)" ]'
groff -man -Tutf8 -rLL=200n -P-cbou "$man" 2>/dev/null > "$tmp/man.txt"
check "facerec.1 carries the version and the exit status and environment of --help" \
    'grep -q "${version}" "$tmp/man.txt" && grep -q "^EXIT STATUS" "$tmp/man.txt" &&
     grep -q "FACEREC_WEIGHTS_DIR" "$tmp/man.txt" && grep -q "NO_COLOR" "$tmp/man.txt"'
missing=""
for c in $commands; do
    # the command's subsection of the page: from its heading to the next
    awk -v h="facerec $c" '$0 ~ "^   facerec [a-z]+$" {on = ($0 == "   " h)} on' "$tmp/man.txt" > "$tmp/man.$c"
    [ -s "$tmp/man.$c" ] || missing="$missing $c"
    for o in $(options "$c"); do
        grep -q -- "$o" "$tmp/man.$c" || missing="$missing $c:$o"
    done
done
check "every command and option of --help is in its section of the man page${missing:+ (missing:$missing)}" \
    '[ -z "$missing" ]'

# ---- bash completion ----------------------------------------------------------------------------
complete_words() { # complete_words WORD... : what completing the last word offers
    bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _facerec; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$completion" "$@" 2>/dev/null | sort
}
check "completion: syntax" 'bash -n "$completion"'
check "completion: commands" '[ "$(complete_words facerec ide)" = identify ] &&
    [ "$(complete_words facerec "" | grep -c .)" -ge "$(wc -w <<< "$commands")" ]'
check "completion: options, values, subcommands" \
    '[ "$(complete_words facerec identify --agg)" = --aggregate ] &&
     [ "$(complete_words facerec identify --aggregate "" | tr "\n" " ")" = "mean min " ] &&
     [ "$(complete_words facerec embed --device c | tr "\n" " ")" = "cpu cuda " ] &&
     complete_words facerec convert --from "" | grep -qx onnx &&
     for sub in list remove rename; do complete_words facerec db "" | grep -qx $sub || exit 1; done &&
     [ "$(complete_words facerec verify --vers)" = --version ]'
touch "$tmp/office.db"
check "completion: files for --db, and for arguments" \
    '[ "$(complete_words facerec verify --db "$tmp/off")" = "$tmp/office.db" ] &&
     [ "$(complete_words facerec identify "$tmp/off")" = "$tmp/office.db" ] &&
     [ -z "$(complete_words facerec identify -k "")" ]'
missing=""
for c in $commands; do
    for o in $(options "$c"); do
        complete_words facerec "$c" "$o" | grep -qx -- "$o" || missing="$missing $c:$o"
    done
done
check "completion offers every option of every command${missing:+ (missing:$missing)}" '[ -z "$missing" ]'

# ---- --version --------------------------------------------------------------------------------
bad=""
for c in $commands; do
    [ "$("$bin" "$c" --version)" = "$version" ] || bad="$bad $c"
done
check "--version with every command${bad:+ (not:$bad)}: $version" '[ -z "$bad" ] && [[ "$version" == "facerec "[0-9]* ]]'

# ---- progress: terminals only, never an escape sequence -------------------------------------------
if [ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ]; then
    johns="${FACEREC_SOURCE_DIR:?}/samples/johns"
    "$bin" embed --threads 2 "$johns" -o "$tmp/a.npy" 2> "$tmp/file.err"
    check "stderr a file: the summary line, no progress (no carriage return), no escape" \
        'grep -q "^embed: 55 images" "$tmp/file.err" && ! grep -q $'"'"'\r'"'"' "$tmp/file.err" &&
         ! grep -q $'"'"'\e'"'"' "$tmp/file.err"'
    # a terminal (script(1) gives the command a pseudo-terminal); NO_COLOR set, as users do
    NO_COLOR=1 script -qec "'$bin' embed --threads 2 --batch 8 '$johns' -o '$tmp/b.npy'" /dev/null \
        > "$tmp/tty.out" < /dev/null
    check "stderr a terminal: progress (images/s, ETA) rewritten in place, no escape sequence" \
        'grep -q "55/55 images, .* images/s, ETA" "$tmp/tty.out" && grep -q $'"'"'\r'"'"' "$tmp/tty.out" &&
         ! grep -q $'"'"'\e'"'"' "$tmp/tty.out"'
    check "--quiet on a terminal: nothing on stderr" \
        '[ -z "$(script -qec "'"'$bin'"' embed --quiet '"'$johns'"' -o '"'$tmp/c.npy'"'" /dev/null < /dev/null)" ]'
else
    echo "skipped: progress checks (no dlib weights)"
fi
exit $fail
