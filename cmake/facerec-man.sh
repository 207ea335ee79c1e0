#!/usr/bin/env bash
# facerec-man.sh FACEREC OUT: writes the man page facerec(1) from the binary's own help, run at
# build time, so that the page and `--help` can never disagree: `facerec --help` gives the
# synopsis, the commands, the exit status and the environment; each `facerec CMD --help` its
# subsection, option lines (two spaces, then a dash) as tagged paragraphs.
set -euo pipefail
bin="$1"
out="$2"
version="$("$bin" --version | sed 's/^facerec //')"
top="$("$bin" --help)"
commands="$(awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1; next} on && !/^  / {on = 0}' <<< "$top")"

# help text -> man source: prose filled by the formatter, usage lines and indented
# non-option lines kept as they are, option lines as .TP entries
render() {
    awk '
    function esc(s) { gsub(/\\/, "\\e", s); return s }
    function text(s) { s = esc(s); if (s ~ /^[.\047]/) s = "\\&" s; return s }
    function tag(s,   n, i, w, r) {           # "-o, --output FILE": options bold, arguments italic
        n = split(s, w, " ")
        for (i = 1; i <= n; i++) {
            if (w[i] ~ /^-/) { x = esc(w[i]); gsub(/-/, "\\-", x); r = r (i > 1 ? " " : "") "\\fB" x "\\fR" }
            else r = r " \\fI" esc(w[i]) "\\fR"
        }
        return r
    }
    function close_nf() { if (nf) { print ".fi"; nf = 0 } }
    /^usage:/ || (inusage && /^       /) {
        close_nf(); if (!inusage) print ".PP\n.nf"; inusage = 1
        line = $0; sub(/^usage: /, "", line); sub(/^       /, "", line); print "\\fB" text(line) "\\fR"; next
    }
    inusage { print ".fi"; inusage = 0 }
    /^$/ { close_nf(); intp = 0; print ".PP"; next }
    /^  -/ {                                       # an option: spec, two spaces, description
        close_nf(); line = substr($0, 3)
        if (match(line, /  +/)) { spec = substr(line, 1, RSTART - 1); desc = substr(line, RSTART + RLENGTH) }
        else { spec = line; desc = "" }
        print ".TP"; print tag(spec); if (desc != "") print text(desc); intp = 1; next
    }
    intp && /^   / { line = $0; sub(/^ +/, "", line); print text(line); next }
    /^ / { intp = 0; if (!nf) { print ".PP\n.nf"; nf = 1 }; print text($0); next }
    /^[a-z][a-z ]*:$/ && length($0) < 40 { close_nf(); intp = 0; print ".PP\n\\fB" text($0) "\\fR"; next }
    { close_nf(); intp = 0; print text($0) }
    END { close_nf(); if (inusage) print ".fi" }'
}

section() { # the paragraph of the top-level help that starts with "$1:"
    awk -v key="$1:" 'index($0, key) == 1 {on = 1; sub(key " *", "")} on && /^$/ {exit} on {print}' <<< "$top"
}

{
    echo ".\\\" facerec(1): generated from facerec --help by cmake/facerec-man.sh; do not edit"
    echo ".TH FACEREC 1 \"\" \"facerec $version\" \"User Commands\""
    echo ".SH NAME"
    echo "facerec \\- batch face recognition: detection, embeddings, verification, identification"
    echo ".SH SYNOPSIS"
    awk '/^usage:/ {sub(/^usage: /, ""); print}' <<< "$top" | sed 's/^facerec/\\fBfacerec\\fR/' 
    echo ".SH COMMANDS"
    awk '/^commands:/ {on = 1; next}
         on && /^  [a-z]/ {n = $1; sub(/^  [a-z]+ +/, ""); gsub(/\\/, "\\e"); print ".TP\n\\fB" n "\\fR\n" $0; next}
         on {exit}' <<< "$top"
    for c in $commands; do
        echo ".SS facerec $c"
        "$bin" "$c" --help | render
    done
    for s in "exit status" environment; do
        body="$(section "$s")"
        [ -n "$body" ] || continue
        echo ".SH $(tr a-z A-Z <<< "$s")"
        render <<< "$body"
    done
    echo ".SH SEE ALSO"
    echo "The README and docs/ of the source distribution; \\fBfacerec COMMAND \\-\\-help\\fR."
} > "$out.tmp"
mv "$out.tmp" "$out"
