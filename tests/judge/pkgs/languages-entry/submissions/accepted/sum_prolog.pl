main :-
    read_line_to_string(user_input, L),
    split_string(L, " ", " ", [A, B]),
    number_string(X, A), number_string(Y, B),
    Z is X + Y, format("~d~n", [Z]).
