module github.com/fanlog/fanlog/bindings/go

go 1.22
