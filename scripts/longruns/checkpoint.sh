#!/bin/bash
# Save the long runs' work without stopping them: park the zoo's unfinished training in zoo-progress/ and commit it
# with the matrix's finished records. Run it in a session's last minutes instead of stop.sh: the runs use the cores
# until the session ends them, and the next one resumes from what this committed (resume.sh), losing only the zoo's
# epochs and the matrix's runs in flight since.
source "$(dirname "$0")/common.sh"
park_and_commit "long runs checkpointed, still running"
