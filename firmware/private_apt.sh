# Sourced by the scripts that fetch Debian packages (fetch_debian_source.sh, xtensa/toolchain.sh):
#   private_apt ROOT "deb-src MIRROR trixie main" ["deb MIRROR bookworm main" ...]
# writes an apt configuration of our own under ROOT (its own sources list, lists and cache), exports
# APT_CONFIG so the following apt-get calls use it, and runs `apt-get update` when the lists are
# missing or the sources changed. The system's apt setup is left untouched. MIRROR: use
# $(debian_mirror), the mirror this machine's apt already uses (TINYML_DEBIAN_MIRROR overrides it).

debian_mirror() {
    local m=${TINYML_DEBIAN_MIRROR:-$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+' \
        | grep -v -e security -e snapshot | head -n 1 || true)}
    if [ -z "$m" ]; then
        echo "no Debian mirror found in /etc/apt: set TINYML_DEBIAN_MIRROR (e.g. http://deb.debian.org/debian)" >&2
        return 1
    fi
    echo "$m"
}

private_apt() {
    local root=$1; shift
    mkdir -p "$root/lists/partial" "$root/cache/archives/partial" "$root/src" \
        "$root/etc/preferences.d" "$root/etc/sources.list.d"
    touch "$root/status" # no packages installed: choices like pkg/trixie ignore the system's
    local want
    want=$(printf '%s\n' "$@")
    cat > "$root/apt.conf" <<CONF
Dir::Etc::SourceList "$root/etc/sources.list";
Dir::Etc::SourceParts "$root/etc/sources.list.d";
Dir::Etc::Preferences "$root/etc/preferences";
Dir::Etc::PreferencesParts "$root/etc/preferences.d";
Dir::State::Lists "$root/lists";
Dir::State::status "$root/status";
Dir::Cache "$root/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Sandbox::User "root";
Debug::NoLocking "1";
CONF
    export APT_CONFIG=$root/apt.conf
    if [ "$(cat "$root/etc/sources.list" 2>/dev/null)" != "$want" ] || [ ! -f "$root/.updated" ]; then
        printf '%s\n' "$want" > "$root/etc/sources.list"
        rm -f "$root/.updated"
        apt-get -q update >&2
        touch "$root/.updated"
    fi
}
