"""The checkup as `facesim doctor` tells it: the counts, what was repaired, each problem with a few
examples and the command that fixes it, and the verdict."""

from __future__ import annotations

from facesim.wording import printable, shown
from index.doctor import Checkup
from index.overview import status_words


def checkup_lines(checkup: Checkup) -> list[tuple[str, bool]]:
    """Each line with whether it must stay whole: examples (paths) and advice (commands) are
    never broken by a narrow terminal's wrapping, so they can be copied as they are."""
    lines = []
    if not any(finding.kind == "damaged_database" for finding in checkup.findings):  # no counts to trust
        lines.append((f"gallery {shown(checkup.gallery)}: {checkup.photos} photos, {checkup.faces} faces", False))
        lines.append((f"photo status: {status_words(checkup.photo_status)}", False))
    lines += [(f"repaired: {action}", True) for action in checkup.repaired]
    for finding in checkup.findings:
        more = f" ({finding.count - len(finding.examples)} more)" if finding.count > len(finding.examples) else ""
        lines.append((f"problem: {finding.count} {finding.title}", True))
        lines.append((f"  e.g. {printable('; '.join(finding.examples))}{more}", True))
        lines.append((f"  fix: {printable(finding.advice)}", True))
    kinds = len(checkup.findings)
    lines.append(("healthy" if checkup.healthy else f"not healthy: {kinds} kind{'s' * (kinds != 1)} of problem", False))
    return lines
