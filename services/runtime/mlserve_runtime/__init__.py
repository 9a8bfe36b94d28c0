"""Code every mlserve function ships at its zip root: lifecycle headers, problems, the app shell."""
