#!/usr/bin/env bash
# facerec-completion.sh FACEREC OUT: writes bash completion for facerec from the binary's own
# help, run at build time (as the man page is): the commands from `facerec --help`; for each
# command its options (lines of `facerec CMD --help` that start with two spaces and a dash),
# the values of options documented as a|b|c, files for FILE/DIR/OUT-like arguments, and the
# subcommands its usage lines show (`facerec db list|remove|rename`).
set -euo pipefail
bin="$1"
out="$2"
top="$("$bin" --help)"
commands="$(awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1; next} on && !/^  / {on = 0}' <<< "$top")"

# "CMD<TAB>OPTION<TAB>ARG" for every option of every command (ARG empty for a flag): from the
# option lines, and from the usage lines for commands that list their options only there
table="$(for c in $commands; do
    "$bin" "$c" --help | awk -v c="$c" '
        function pairs(line,   n, w, i) {
            n = split(line, w, /[ ,\[\]]+/)
            for (i = 1; i <= n; i++)
                if (w[i] ~ /^-[-a-z0-9]/) print c "\t" w[i] "\t" (i < n && w[i + 1] !~ /^-/ ? w[i + 1] : "")
        }
        /^  -/ { line = substr($0, 3); sub(/  .*/, "", line); pairs(line); next }
        /^(usage: +| +)facerec / { line = $0; sub(/^(usage: +| +)facerec [a-z]+/, "", line); pairs(line) }'
done | sort -u)"

{
    echo "# bash completion for facerec: generated from facerec --help by"
    echo "# cmake/facerec-completion.sh; do not edit"
    echo "_facerec()"
    echo "{"
    echo "    local cur=\"\${COMP_WORDS[COMP_CWORD]}\" prev=\"\${COMP_WORDS[COMP_CWORD-1]}\""
    echo "    local cmd=\"\${COMP_WORDS[1]}\" words"
    echo "    COMPREPLY=()"
    echo "    if [ \"\$COMP_CWORD\" -eq 1 ]; then"
    echo "        COMPREPLY=(\$(compgen -W \"$(echo $commands) --help --version\" -- \"\$cur\"))"
    echo "        return"
    echo "    fi"
    # the previous word an option that takes a value: its values, files, or nothing to offer
    echo "    case \"\$cmd \$prev\" in"
    awk -F'\t' '
        function files(a) { return a ~ /(^|\|)(FILE|DIR|PEOPLE|PREFIX|SRC|OUT|PATH)/ || a ~ /[.\/]/ }
        $3 != "" {
            key = $1 " " $2
            if (!(key in kind)) order[++n] = key
            if (files($3)) kind[key] = "files"
            else if ($3 ~ /^[a-z][-a-z0-9|]*$/) {
                m = split($3, v, "|")
                for (j = 1; j <= m; j++)
                    if (!((key, v[j]) in has)) { has[key, v[j]] = 1; words[key] = words[key] " " v[j] }
                if (kind[key] != "files") kind[key] = "words"
            }
            else if (!(key in kind)) kind[key] = "none"
        }
        END {
            for (i = 1; i <= n; i++) {
                k = order[i]
                if (kind[k] == "files") act = "compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))"
                else if (kind[k] == "words") act = "COMPREPLY=($(compgen -W \"" substr(words[k], 2) "\" -- \"$cur\"))"
                else act = ":"
                print "    \"" k "\") " act "; return ;;"
            }
        }' <<< "$table"
    echo "    esac"
    echo "    case \"\$cmd\" in"
    for c in $commands; do
        opts="$(awk -F'\t' -v c="$c" '$1 == c {print $2}' <<< "$table" | sort -u | tr '\n' ' ')"
        subs="$("$bin" "$c" --help | awk -v c="$c" '
            /^(usage: +| +)facerec / {for (i = 1; i < NF; i++) if ($i == c && $(i + 1) ~ /^[a-z]+$/) print $(i + 1)}' |
            sort -u | tr '\n' ' ')"
        echo "    $c) words=\"${opts}--help --version\""
        if [ -n "$subs" ]; then
            echo "        if [ \"\$COMP_CWORD\" -eq 2 ] && [[ \"\$cur\" != -* ]]; then"
            echo "            COMPREPLY=(\$(compgen -W \"${subs% }\" -- \"\$cur\"))"
            echo "            return"
            echo "        fi ;;"
        else
            echo "        ;;"
        fi
    done
    echo "    *) return ;;"
    echo "    esac"
    echo "    if [[ \"\$cur\" == -* ]]; then"
    echo "        COMPREPLY=(\$(compgen -W \"\$words\" -- \"\$cur\"))"
    echo "    else"
    echo "        compopt -o filenames 2>/dev/null"
    echo "        COMPREPLY=(\$(compgen -f -- \"\$cur\"))"
    echo "    fi"
    echo "}"
    echo "complete -F _facerec facerec"
} > "$out.tmp"
mv "$out.tmp" "$out"
