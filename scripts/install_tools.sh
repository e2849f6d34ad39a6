#!/usr/bin/env bash
# Install the system tools that the book's checks and its PDF need, with apt-get, when they are
# missing (Debian and Ubuntu; as root, or through sudo). Python packages come from
# requirements.txt instead.
#
#   scripts/install_tools.sh pdf    XeLaTeX, latexmk, fonts, Italian hyphenation (make pdf)
#   scripts/install_tools.sh test   the same, plus Chromium (the offline test in a real browser)
#                                   and poppler-utils (the PDF's checks) (make test)
set -euo pipefail

# The PDF: XeLaTeX and latexmk, the LaTeX packages that Sphinx and sphinx-jupyterbook-latex load,
# the fonts they name (and DejaVu Sans Mono for the code) and the Italian hyphenation patterns:
# about 90 MB to download, 0.5 GB installed, 3 minutes on a busy 2-core machine.
pdf=(texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
  texlive-lang-italian tex-gyre fonts-freefont-otf fonts-dejavu-core latexmk)
# The checks: a headless browser and the PDF tools (pdfinfo, pdftotext, pdftoppm): about 110 MB
# to download, 0.4 GB installed, under a minute.
checks=(chromium poppler-utils)

case "${1:-}" in
  pdf) wanted=("${pdf[@]}") ;;
  test) wanted=("${pdf[@]}" "${checks[@]}") ;;
  *) echo "usage: $0 pdf|test" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null; then
  echo "Not a Debian or Ubuntu system: install these (or their equivalents) yourself:" >&2
  echo "  ${wanted[*]}" >&2
  exit 0
fi

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [[ $(id -u) != 0 ]]; then
  sudo=(sudo)
fi
echo "Installing with apt-get: ${missing[*]}"
start=$SECONDS
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
echo "Installed in $((SECONDS - start)) s: ${missing[*]}"
