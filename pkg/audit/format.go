package audit

// Format is the file format of an export.
type Format string

// The formats Bufdir accepts.
const (
	FormatExcel Format = "excel"
	FormatPDF   Format = "pdf"
	FormatCSV   Format = "csv"
)

// Valid reports whether f is one of the known formats.
func (f Format) Valid() bool {
	return f == FormatExcel || f == FormatPDF || f == FormatCSV
}
