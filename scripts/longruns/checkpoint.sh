#!/bin/bash
# Save the long runs' work without stopping them, at the end of a session: park the zoo's unfinished training in
# zoo-progress/ and commit it with the matrix's finished records. A machine that is kept pauses with the session and
# the runs go on when it resumes (nothing to restart); a fresh one resumes from what this committed (resume.sh),
# losing the zoo's epochs and the matrix's runs in flight since.
source "$(dirname "$0")/common.sh"
park_and_commit "long runs checkpointed, still running"
