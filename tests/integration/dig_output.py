"""Reading dig's output in DNS tests: the response's status and its answers."""
import re


def status(out: str) -> str:
    """NOERROR, NXDOMAIN, REFUSED, ... from dig's header; 'no answer: ...' when there is none."""
    found = re.search(r'status: (\w+)', out)
    return found.group(1) if found else f'no answer: {out}'


def answers(out: str) -> list:
    """The answer section's data (addresses, names), sorted."""
    return sorted(line.split()[-1] for line in out.split('ANSWER SECTION:')[-1].splitlines()
                  if '\tIN\t' in line) if 'ANSWER SECTION:' in out else []
