module github.com/mswitch/mswitch

go 1.26.8
