%% The module is not named after the file: the judge compiles it under its name.
-module(solution).
-export([main/0]).
main() ->
    {ok, [A, B]} = io:fread("", "~d ~d"),
    io:format("~w~n", [A + B]).
