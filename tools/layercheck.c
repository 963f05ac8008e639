/* Linked with one layer's every object and the layers below it: see CMakeLists.txt. */
int main(void)
{
	return 0;
}
