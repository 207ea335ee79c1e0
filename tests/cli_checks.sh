# cli_checks.sh: the checks test_match_cli.sh, test_train_cli.sh and test_cluster_cli.sh share
# (sourced once $tmp, the test's scratch folder, exists). Each failed check sets fail=1 and
# the test goes on, so one run names every failure; the test ends with `exit $fail`.
fail=0

# expect DESCRIPTION CODE PATTERNS COMMAND...: exit code CODE, and stderr matching each of
# the ';'-separated extended regular expressions in PATTERNS. On success the first line of
# stderr that does not match $EXPECT_QUIET (a command's progress lines) is shown with the check.
expect() {
    local what="$1" code="$2" patterns="$3" matched=1
    shift 3
    local got=0
    "$@" > "$tmp/out" 2> "$tmp/err" || got=$?
    local IFS=';'
    for p in $patterns; do
        grep -Eq -- "$p" "$tmp/err" || matched=0
    done
    unset IFS
    if [ "$got" != "$code" ] || [ $matched = 0 ]; then
        echo "FAILED: $what: exit $got (want $code), stderr:"
        cat "$tmp/err"
        fail=1
    else
        local shown="$tmp/err"
        [ -z "${EXPECT_QUIET:-}" ] || { grep -Ev -- "$EXPECT_QUIET" "$tmp/err" > "$tmp/shown" || true; shown="$tmp/shown"; }
        echo "ok: $what ($(head -1 "$shown"))"
    fi
}
# ok DESCRIPTION SHELL-CONDITION
ok() { if ( eval "$2" ); then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi; }
digest() { sha256sum "$1" | cut -d' ' -f1; }
