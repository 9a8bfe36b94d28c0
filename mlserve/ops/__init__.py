"""Operations on a deployed stack at run time, through the AWS APIs (boto3): rollouts, and later
pruning, usage and batch results. Never imports the program's components: it reads the stack's
settings and AWS."""
