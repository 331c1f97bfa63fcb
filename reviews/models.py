# The workflow engine (workflows, stages, reviews, votes) arrives with F2.
