#!/usr/bin/env bash
# test_install.sh: libfacerec as its users get it: `cmake --install` of this build into a
# temporary prefix, then examples/who.c built against that prefix with pkg-config and with
# find_package(facerec) (shared and static), and run on the seed's office images.
#
# Also checked: the layout (versioned soname and its links, headers, .pc, CMake package), that
# libfacerec.so and libfacerec.a export exactly the functions facerec.h declares, and that the
# header compiles as C++ too. Labelled heavy: it gains nothing from the sanitizers (and an
# instrumented library cannot be linked into a plain program).
set -euo pipefail
build="${FACEREC_BUILD_DIR:?}"
src="${FACEREC_SOURCE_DIR:?}"
[ -f "${FACEREC_WEIGHTS:?}/dlib.frw" ] || { echo "no dlib weights (weights/fetch.sh)"; exit 77; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # check DESCRIPTION CONDITION
    if ( eval "$2" ); then echo "ok: $1"; else echo "FAILED: $1"; fail=1; fi
}
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log"
libdir="$(sed -n 's/^libdir=\${prefix}\///p' "$prefix"/lib*/pkgconfig/facerec.pc 2>/dev/null | head -1)"
lib="$prefix/${libdir:-lib}"
version="$(sed -n 's/^#define FR_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/facerec_version.h")"
soname="libfacerec.so.${version%.*}"

check "installed: library $version, soname $soname, headers, pkg-config, CMake package, man page, completion" \
    '[ -f "$lib/libfacerec.so.$version" ] && [ "$(readlink "$lib/$soname")" = "libfacerec.so.$version" ] &&
     [ "$(readlink "$lib/libfacerec.so")" = "$soname" ] && [ -f "$lib/libfacerec.a" ] &&
     [ -f "$prefix/include/facerec.h" ] && [ -f "$lib/pkgconfig/facerec.pc" ] &&
     [ -f "$lib/cmake/facerec/facerecConfig.cmake" ] && [ -f "$lib/cmake/facerec/facerecConfigVersion.cmake" ] &&
     [ -x "$prefix/bin/facerec" ] && [ -f "$prefix/share/facerec/weights/dlib.frw" ] &&
     [ -f "$prefix/share/man/man1/facerec.1" ] && [ -f "$prefix/share/bash-completion/completions/facerec" ]'
check "the soname recorded in the library is $soname" \
    '[[ "$(readelf -d "$lib/libfacerec.so.$version")" == *"soname: [$soname]"* ]]'

# exactly the API: the functions facerec.h declares, nothing else (visibility, --exclude-libs,
# the static library's internal symbols made local)
sed -n 's/^FR_API [^(]*[ *]\(fr_[a-z0-9_]*\)(.*/\1/p' "$prefix/include/facerec.h" | sort > "$tmp/api"
nm -D --defined-only "$lib/libfacerec.so.$version" | awk '{print $3}' | sort > "$tmp/so"
nm -g --defined-only "$lib/libfacerec.a" | awk 'NF == 3 {print $3}' | sort > "$tmp/a"
check "libfacerec.so exports the $(wc -l < "$tmp/api") functions of facerec.h and nothing else" \
    'diff "$tmp/api" "$tmp/so"'
check "libfacerec.a defines the same global symbols" 'diff "$tmp/api" "$tmp/a"'
check "facerec.h compiles as C++" \
    'echo "#include <facerec.h>" | c++ -fsyntax-only -Wall -Wextra -Werror -x c++ -I"$prefix/include" -'

# the example, both ways
export PKG_CONFIG_PATH="$lib/pkgconfig"
check "pkg-config: cflags and libs from the relocated prefix" \
    '[ "$(pkg-config --modversion facerec)" = "$version" ] &&
     [ "$(pkg-config --variable=libdir facerec)" -ef "$lib" ]'
cc -std=c11 -Wall -Wextra -Wpedantic -Werror "$src/examples/who.c" $(pkg-config --cflags --libs facerec) \
    -Wl,-rpath,"$lib" -o "$tmp/who_pc"
cmake -S "$src/examples" -B "$tmp/examples" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    > "$tmp/examples.log"
cmake --build "$tmp/examples" -j2 >> "$tmp/examples.log"
check "built with pkg-config and with find_package: linked to the installed $soname" \
    '[[ "$(ldd "$tmp/who_pc")" == *"$soname => $lib/"* ]] &&
     [[ "$(ldd "$tmp/examples/who")" == *"$soname => $lib/"* ]]'
check "who_static carries the library itself" '[[ "$(ldd "$tmp/examples/who_static")" != *libfacerec* ]]'

office="${FACEREC_DATA:?}/happyhouse"
export FACEREC_WEIGHTS_DIR="$prefix/share/facerec/weights"
for who in who_pc examples/who examples/who_static; do
    rm -f "$tmp/office.db"
    out="$("$tmp/$who" "$tmp/office.db" "younes=$office/database/younes.jpg" \
           "kian=$office/database/kian.jpg" "$office/camera/camera_0.jpg" "$office/camera/camera_2.jpg")"
    echo "$out"
    # the seed's answers: camera_0 is younes; camera_2 (benoit, not enrolled) is nobody here
    check "$who: camera_0 is younes, camera_2 unknown" \
        '[[ "$out" == *"libfacerec $version"* ]] && [[ "$out" == *"enrolled 2"* ]] &&
         grep -q "camera_0.jpg face 0: younes" <<< "$out" &&
         grep -q "camera_2.jpg face 0: unknown" <<< "$out"'
done
exit $fail
