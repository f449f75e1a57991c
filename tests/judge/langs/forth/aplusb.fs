\ Reads one line and lets the Forth text interpreter parse the two numbers.
create buf 256 allot
buf 256 stdin read-line 2drop buf swap evaluate + 0 .r cr
bye
